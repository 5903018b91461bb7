//! Bindings of the component's world (`wit/world.wit`): Spin's key-value store and variables,
//! and the two rule-plugin slots. The HTTP export comes from spin-sdk.

wit_bindgen::generate!({
    world: "levee-spin",
    path: "wit",
    generate_all,
});
