# Where corpora live on this machine; nothing is downloaded. Edit, or set them in the environment.
# local/data.sh reads the one that --data names; empty = not available here.
FLEURS=${FLEURS:-}             # a FLEURS copy as lhotse's fleurs recipe expects it
COMMONVOICE=${COMMONVOICE:-}   # a Common Voice release directory (one sub-directory per language)
KALDI_DATA=${KALDI_DATA:-}     # a directory holding Kaldi data dirs named like the sets (train/ dev/ test/)
CAPTIONS=${CAPTIONS:-}         # long audio files with .vtt/.srt captions beside them
