"""Meta-architectures: Mask R-CNN (RPN, ROI heads, mask head; predict / loss / postprocess)."""
