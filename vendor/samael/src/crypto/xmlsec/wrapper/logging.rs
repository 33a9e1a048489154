//!
//! sso-gateway patch (vendor/README.md): xmlsec's and libxml2's error
//! callbacks go to `tracing` at debug level instead of stderr.
//!
//! By default xmlsec prints a `func=xmlSec…` line to stderr for every
//! refused signature, so any unauthenticated request could write raw,
//! unstructured lines past the application's log format. The caller already
//! gets each failure as an error value; these lines are diagnostics only.
//!
use crate::crypto::xmlsec::wrapper::bindings;

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Once;

unsafe extern "C" {
    // generic_error.c: formats libxml2's variadic messages for `generic_line`.
    fn samael_set_generic_error_sink(sink: Option<unsafe extern "C" fn(*const c_char)>);
    fn samael_xml_generic_error(ctx: *mut c_void, msg: *const c_char, ...);
}

static GLOBAL: Once = Once::new();

thread_local! {
    static THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Routes the errors of xmlsec (process-wide) and of libxml2 (whose handlers
/// are per thread) to `tracing`; cheap after the first call on a thread.
/// Call before any libxml2/xmlsec work on the current thread.
pub fn route_errors_to_tracing() {
    GLOBAL.call_once(|| unsafe {
        samael_set_generic_error_sink(Some(generic_line));
        bindings::xmlSecErrorsSetCallback(Some(xmlsec_error));
        // The defaults that threads libxml2 has not seen yet start with.
        bindings::xmlThrDefSetGenericErrorFunc(
            std::ptr::null_mut(),
            Some(samael_xml_generic_error),
        );
        bindings::xmlThrDefSetStructuredErrorFunc(std::ptr::null_mut(), Some(structured_error));
    });
    THIS_THREAD.with(|routed| {
        if !routed.get() {
            // Threads that already touched libxml2 keep their own handlers
            // until they are set here.
            unsafe {
                bindings::xmlSetGenericErrorFunc(
                    std::ptr::null_mut(),
                    Some(samael_xml_generic_error),
                );
                bindings::xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(structured_error));
            }
            routed.set(true);
        }
    });
}

/// A C string from a callback, which may be null; trailing newlines dropped.
fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy();
    text.trim_end().to_string()
}

unsafe extern "C" fn xmlsec_error(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    tracing::debug!(
        func = %text(func),
        file = %text(file),
        line,
        object = %text(error_object),
        subject = %text(error_subject),
        reason,
        "xmlsec: {}",
        text(msg)
    );
}

unsafe extern "C" fn structured_error(_ctx: *mut c_void, error: bindings::xmlErrorPtr) {
    let Some(error) = (unsafe { error.as_ref() }) else {
        return;
    };
    tracing::debug!(
        domain = error.domain,
        code = error.code,
        level = error.level,
        line = error.line,
        "libxml2: {}",
        text(error.message)
    );
}

unsafe extern "C" fn generic_line(message: *const c_char) {
    let message = text(message);
    if !message.is_empty() {
        tracing::debug!("libxml2: {message}");
    }
}
