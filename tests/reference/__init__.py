"""Independent float64 references for the native network tests.

`numpy_net` holds the forward/loss/backward written from the equations (never from cpp/);
`finite_diff` holds the central-difference gradient checker with kink avoidance.
"""
