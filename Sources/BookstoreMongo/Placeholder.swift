// MongoDB support: in progress
