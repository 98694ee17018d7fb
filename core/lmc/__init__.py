"""Linear mode connectivity: paths, planes and the LMC lab (spawn, SWA, soups, alignment).

plane        weight averages, loss along a path, 2-D loss planes, BatchNorm recalibration
lab          spawn at k, SWA and soups computed from weight sets; the lab's stored sections
align        does permuting one scratch model onto the other remove the barrier? (`python -m core align`)
rebasin      weight and activation matching (Git Re-Basin)
rebasin_ste  straight-through estimator matching
barriers     every barrier the product shows in one table: pair, width, BatchNorm, set, definition
"""
