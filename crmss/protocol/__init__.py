"""The paper's experiments as one command (``crmss reproduce``) and the demo (``crmss demo``)."""
