mod yaml;
fn main() {}
