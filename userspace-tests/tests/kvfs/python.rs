//! Python's plain file API against kvfs: open, read, write, os.listdir,
//! os.rename and os.remove.

use crate::common::{run_script, Namespace};
use std::fs;

/// Runs `script` with python3 in the namespace's directory.
fn python(ns: &Namespace, script: &str) -> assert_cmd::assert::Assert {
    run_script("python3", ns, script)
}

#[test]
fn python_puts_and_gets_text_and_bytes() {
    let ns = Namespace::new("python_put_get");
    python(
        &ns,
        r#"
with open("greeting", "w") as f:
    f.write("hello from python\n")
with open("greeting", "a") as f:
    f.write("and more\n")
with open("greeting") as f:
    print(f.read(), end="")
with open("bytes", "wb") as f:
    f.write(bytes(range(256)) * 64)
with open("bytes", "rb") as f:
    print(f.read() == bytes(range(256)) * 64)
"#,
    )
    .success()
    .stdout("hello from python\nand more\nTrue\n");
    assert_eq!(
        fs::read(ns.key("greeting")).unwrap(),
        b"hello from python\nand more\n"
    );
    assert_eq!(fs::metadata(ns.key("bytes")).unwrap().len(), 256 * 64);
}

#[test]
fn python_lists_renames_and_removes_keys() {
    let ns = Namespace::new("python_list");
    python(
        &ns,
        r#"
import os
for name in ["a", "b", "c"]:
    with open(name, "w") as f:
        f.write(name)
print(sorted(os.listdir(".")))
os.rename("a", "z")
os.remove("b")
os.mkdir("users")
os.rename("c", "users/c")
print(sorted(os.listdir(".")), os.listdir("users"))
"#,
    )
    .success()
    .stdout("['a', 'b', 'c']\n['users', 'z'] ['c']\n");
    assert_eq!(ns.tree(), ["users/", "users/c", "z"], "{}", ns.describe());
    assert_eq!(fs::read(ns.key("z")).unwrap(), b"a");
    assert_eq!(fs::read(ns.key("users/c")).unwrap(), b"c");
}

#[test]
fn python_sees_a_missing_key_as_file_not_found() {
    let ns = Namespace::new("python_missing");
    python(
        &ns,
        r#"
try:
    open("missing").read()
except FileNotFoundError:
    print("missing")
"#,
    )
    .success()
    .stdout("missing\n");
}
