"""A sandbox for model-written Python: namespaces, limits and an unforgeable pass token."""

from multianswer.sandbox.checker import (
    CodeVerifier,
    SandboxResult,
    check_program,
    check_programs,
    extract_code,
    first_string,
    sandbox_isolation,
)

__all__ = ["CodeVerifier", "SandboxResult", "check_program", "check_programs", "extract_code", "first_string",
           "sandbox_isolation"]
