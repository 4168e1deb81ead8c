// stb_image's decoder, from the Debian package's header, compiled with the fuzzer's
// instrumentation (the prebuilt libstb is not). Its symbols take the place of libstb's.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
