"""Exceptions raised by the mrope package. All derive from ValueError."""


class MRopeError(ValueError):
    """Base class of the package's errors."""


class ConfigError(MRopeError):
    """A model config or RopeConfig field breaks a rule (the message names it)."""


class CompileError(MRopeError):
    """The generated or user IR does not verify or lower (with diagnostics)."""


class InputError(MRopeError):
    """An input array or batch is inconsistent (the message names the field,
    the sequence, the block and the rule)."""


class GPUError(MRopeError):
    """The CUDA driver or device failed (no driver or GPU, a failed launch, a
    fault seen at a synchronization); the message names the driver call."""
