//! The ABI's rules on its own types, written once in `include/uapi/lightos.rs`.

use lightos_uapi as uapi;

#[test]
fn out_dtype_zero_means_the_inputs_dtype() {
    let p = uapi::Primitive {
        dtype: uapi::DTYPE_I8,
        ..Default::default()
    };
    assert_eq!(p.output_dtype(), uapi::DTYPE_I8);
    let q = uapi::Primitive {
        out_dtype: uapi::DTYPE_F32,
        ..p
    };
    assert_eq!(q.output_dtype(), uapi::DTYPE_F32);
}
