//! The image catalog: boot images and OS images read from WIM files. So far: where images may
//! be read from ([`sources`]).

pub mod sources;
