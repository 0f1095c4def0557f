use std::marker::PhantomData;

use cement::App;

#[derive(App)]
#[app(label = "myapp")]
struct MyApp<T> {
    marker: PhantomData<T>,
}

fn main() {
    let _ = MyApp::<u8>::setup();
}
