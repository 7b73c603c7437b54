"""linksim.phy"""
