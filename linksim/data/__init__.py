"""linksim.data"""
