//! Host bindings of the `levee:spin/spin-runtime` world (host/spin/wit/world.wit): what Spin
//! itself provides to the levee component besides WASI, namely its key-value store
//! (`wasi:keyvalue/store` and `wasi:keyvalue/atomics`, draft2) and its variables
//! (`fermyon:spin/variables@2.0.0`). kv.rs and variables.rs implement them.

wasmtime::component::bindgen!({
    path: "../host/spin/wit",
    world: "levee:spin/spin-runtime",
    imports: { default: trappable },
    with: {
        "wasi:keyvalue/store.bucket": super::kv::Bucket,
        "wasi:keyvalue/atomics.cas": super::kv::Cas,
    },
});
