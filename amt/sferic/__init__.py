"""Sferic recognition in AMT time series (Jiang et al., 2023, Geophysics 88(4), "Deep learning based sferics
recognition for AMT data processing in the dead band").
"""
