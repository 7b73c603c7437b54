"""The parameters of an OFDM resource grid, validated: one model for a scenario's ``phy.ofdm``
section and for :class:`~linksim.phy.link.Link` (no Sionna import here: validation stays light)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OFDMParams(BaseModel):
    """One slot of OFDM: ``num_ofdm_symbols`` x ``fft_size`` resource elements, pilots on whole
    OFDM symbols. The defaults are a 5G NR-like slot at 30 kHz (72 subcarriers, 14 symbols)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fft_size: int = Field(default=72, ge=1, le=4096, description="subcarriers")
    num_ofdm_symbols: int = Field(default=14, ge=1, le=140, description="OFDM symbols per slot")
    subcarrier_spacing_hz: float = Field(default=30e3, gt=0, le=1e7, description="subcarrier spacing [Hz]")
    cyclic_prefix_length: int = Field(default=6, ge=0, le=4096, description="cyclic prefix [samples]; at most fft_size")
    pilot_ofdm_symbol_indices: list[int] = Field(
        default_factory=lambda: [2, 11], max_length=140,
        description="OFDM symbols (0-based within the slot) that carry pilots on every subcarrier; "
                    "the others carry data, and at least one must")

    @model_validator(mode="after")
    def _pilots(self) -> "OFDMParams":
        bad = [i for i in self.pilot_ofdm_symbol_indices if not 0 <= i < self.num_ofdm_symbols]
        if bad:
            raise ValueError(f"pilot_ofdm_symbol_indices: {bad} outside [0, {self.num_ofdm_symbols - 1}]")
        if len(set(self.pilot_ofdm_symbol_indices)) >= self.num_ofdm_symbols:
            raise ValueError("pilot_ofdm_symbol_indices: no OFDM symbol is left for data")
        return self

    @model_validator(mode="after")
    def _cyclic_prefix(self) -> "OFDMParams":
        if self.cyclic_prefix_length > self.fft_size:  # Sionna's ResourceGrid refuses it
            raise ValueError(f"cyclic_prefix_length: {self.cyclic_prefix_length} is longer than fft_size ({self.fft_size})")
        return self
