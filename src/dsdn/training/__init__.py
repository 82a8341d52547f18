"""Training: the tiny SD-format base (``dsdn train base``) and DSDN itself (``dsdn train video``)."""
