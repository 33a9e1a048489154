/*
 * sso-gateway patch (vendor/README.md): libxml2's generic error callback is
 * C-variadic, which stable Rust cannot define. This shim formats the message
 * and hands the finished line to a Rust sink, so nothing is printed to stderr.
 */
#include <stdarg.h>
#include <stdio.h>

typedef void (*samael_error_sink)(const char *message);

static samael_error_sink sink = NULL;

/* Called once, before the first samael_xml_generic_error is installed. */
void samael_set_generic_error_sink(samael_error_sink new_sink) { sink = new_sink; }

void samael_xml_generic_error(void *ctx, const char *msg, ...) {
    char line[1024];
    va_list args;
    (void)ctx;
    if (sink == NULL || msg == NULL) {
        return;
    }
    va_start(args, msg);
    vsnprintf(line, sizeof line, msg, args);
    va_end(args);
    sink(line);
}
