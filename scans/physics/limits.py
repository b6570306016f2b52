"""Measurement limits of the dual-energy scanner: where Z_eff stops being measurable."""

# Transmission below which a pixel is impenetrable: no measurable Z (about 16 detected photons in
# the high channel at the default I0, and the depth of the table).
IMPENETRABLE_T = 0.004
# Attenuation below which a pixel is air: its ratio R is dominated by noise.
AIR_ATTENUATION = 0.02
