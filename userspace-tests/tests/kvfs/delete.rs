//! TODO: tests of this area.
