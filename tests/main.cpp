// The doctest runner: every tests/test_*.cpp registers its TEST_CASEs with this main.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
