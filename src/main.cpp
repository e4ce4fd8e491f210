// listingd: the ListingAPI server. Everything happens in the modules; see src/cli.
#include "listingd/cli.h"

int main(int argc, char** argv) { return listingd::run_cli(argc, argv); }
