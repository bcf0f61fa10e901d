//! Whether CUDA can run here, asked before any CUDA call: cudarc loads its libraries on first use
//! and panics when one is missing, so the backend looks for each one first and turns a missing
//! library into [`CudaError::Unavailable`].

use crate::{CudaError, Result};
use cudarc::driver::CudaContext;

/// One CUDA library the backend loads at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// The driver (`libcuda.so`), installed with the NVIDIA kernel driver.
    Driver,
    /// cuBLAS (`libcublas.so`), from the toolkit or the `nvidia-cublas` wheel.
    Cublas,
    /// NVRTC (`libnvrtc.so`), the run-time compiler of the backend's kernels.
    Nvrtc,
}

impl Library {
    /// Every library the backend needs, in the order it loads them.
    pub const ALL: [Library; 3] = [Library::Driver, Library::Cublas, Library::Nvrtc];

    /// The library's file name stem.
    pub fn name(self) -> &'static str {
        match self {
            Library::Driver => "libcuda",
            Library::Cublas => "libcublas",
            Library::Nvrtc => "libnvrtc",
        }
    }

    /// Whether the dynamic loader finds it (`LD_LIBRARY_PATH` and the system's paths).
    pub fn present(self) -> bool {
        // SAFETY: each call only tries `dlopen` on the library's candidate names and closes
        // what it opened; no symbol is called.
        unsafe {
            match self {
                Library::Driver => cudarc::driver::sys::is_culib_present(),
                Library::Cublas => cudarc::cublas::sys::is_culib_present(),
                Library::Nvrtc => cudarc::nvrtc::sys::is_culib_present(),
            }
        }
    }
}

/// The libraries of [`Library::ALL`] that cannot be loaded.
pub fn missing_libraries() -> Vec<Library> {
    Library::ALL.into_iter().filter(|l| !l.present()).collect()
}

/// `Ok` when every library loads, else [`CudaError::Unavailable`] naming the missing ones.
pub fn check_libraries() -> Result<()> {
    let missing = missing_libraries();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<_> = missing.iter().map(|l| l.name()).collect();
    Err(CudaError::Unavailable(format!(
        "{} not found (install the NVIDIA driver and the CUDA 12 cuBLAS and NVRTC libraries, \
         or put them on LD_LIBRARY_PATH)",
        names.join(", ")
    )))
}

/// How many CUDA devices the driver reports; [`CudaError::Unavailable`] without a driver.
pub fn device_count() -> Result<usize> {
    if !Library::Driver.present() {
        return Err(CudaError::Unavailable("libcuda not found".into()));
    }
    Ok(CudaContext::device_count()?.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_named_in_the_error_not_a_panic() {
        match check_libraries() {
            Ok(()) => assert!(missing_libraries().is_empty()),
            Err(CudaError::Unavailable(msg)) => {
                for lib in missing_libraries() {
                    assert!(msg.contains(lib.name()), "{msg}");
                }
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn device_count_without_a_driver_is_unavailable() {
        if Library::Driver.present() {
            eprintln!("skipped: a CUDA driver is present");
            return;
        }
        assert!(matches!(device_count(), Err(CudaError::Unavailable(_))));
    }
}
