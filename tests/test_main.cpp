// Catch2's main lives in its own translation unit so that the (slow to
// compile) framework is built once and the test files rebuild quickly.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
