"""linksim.codecs"""
