// Boost.Asio's and Boost.Beast's non-template code, compiled once for the whole program (library
// dynamo_asio). Every translation unit is compiled with BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION (top-level CMakeLists.txt), so it declares this code instead of
// compiling it inline.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
