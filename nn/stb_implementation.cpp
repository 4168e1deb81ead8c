// The implementations of stb_image and stb_image_write (nn/image.cpp uses them), compiled
// here only when the build takes stb from a folder of headers (make STB_INCLUDE=DIR, which
// defines AD_COMPILE_STB): on macOS, or a Linux without Debian's libstb-dev. With Debian's
// package they come compiled in libstb (-lstb) and this file is empty.
#if defined(AD_COMPILE_STB)

// stb is written for many compilers and warns under -Wall -Wextra; its warnings are not
// the project's to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#endif  // defined(AD_COMPILE_STB)
