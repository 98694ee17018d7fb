"""WiSE-FT itself: theta_alpha = (1 - alpha) * theta_0 + alpha * theta_1, and what is computed from it.

interpolate  interpolate(theta_0, theta_1, alpha), the paper's eq. 1
sweep        logits of theta_alpha on every eval set for a grid of alphas (the only producer of logits)
export       theta_alpha written as a folder plain open_clip loads
predict      top-k classes of image files along the path
"""
