"""Profiles of product groups (brands, sellers, channels) by the tags of a few representative photos, and
recommendation by the cosine of tag profiles: style tags mined from descriptions, attribute heads with
applicability, representative-photo selection, profile files, recommendation and the brand-recall protocol."""
