"""Readers of the file formats datasets come in, each checking what it reads so that a bad file
fails with a message naming it instead of a traceback: ``idx`` (MNIST, Fashion-MNIST), ``cifar``
(CIFAR-10/100 pickled batches), ``svhn`` (SVHN's MATLAB files), ``userfile`` (a user's .npz or
.csv) and ``imagefolder`` (a folder of images, one sub-folder per class; one image file).

They return arrays and labels; turning them into a split dataset is the loaders' job
(``semimix.data.canonical``, ``semimix.data.userfile``, ``semimix.data.imagefolder``).
``checks`` holds what the readers share (the error for a damaged file, class ids in range).
"""
