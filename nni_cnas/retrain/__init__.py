"""Training a found cell from scratch: DARTS/NASNet networks (:mod:`.cnn`), recurrent language
models (:mod:`.rnn`), and what both loops share (:mod:`.common`)."""
