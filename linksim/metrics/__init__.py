"""linksim.metrics"""
