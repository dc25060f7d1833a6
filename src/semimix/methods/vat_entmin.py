"""VAT+EntMin (Miyato et al. 2018, 'vatent'): VAT plus entropy minimisation on unlabeled samples."""

from __future__ import annotations

from dataclasses import dataclass

from semimix.methods.vat import VAT, VATParams


@dataclass
class VATEntMinParams(VATParams):
    entmin_weight: float = 1.0  # VAT's code weighs CE, VAT and entropy equally


class VATEntMin(VAT):
    name = "vat-entmin"
    summary = "VAT + entropy minimisation (Miyato et al. 2018)"
    Params = VATEntMinParams
