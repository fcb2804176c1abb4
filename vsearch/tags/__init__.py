"""Attributes and tags of products: title rules, features for heads, head training, backbone fine-tuning,
the text-image alignment head, and the Tagger that predicts for photos or writes tags into an index."""
