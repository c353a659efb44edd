"""Audio-magnetotelluric (AMT) time-series processing with sferic recognition for the dead band."""

__all__: list[str] = []
