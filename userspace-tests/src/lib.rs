//! The kvfs userspace tests live in `tests/`; this library is empty so that
//! the package has a target besides them.
