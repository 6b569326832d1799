"""TIS (PC Client PTP FIFO) targets: a register seam, the FIFO driver over it, two backends."""
