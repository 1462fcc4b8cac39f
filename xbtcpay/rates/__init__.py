"""Exchange rates: how many units of a fiat currency one asset is worth, and how sure we are.

A pair's rate is the median of its fresh sources; sources that disagree by more than
``rates.max_spread`` percent, or no fresh source at all, refuse the rate instead of guessing
(``-32012 no reliable rate for ASSET/CURRENCY``). Money stays Decimal from the source's text
(or its integer on chain) to the rate; nothing here passes through a float.
"""
