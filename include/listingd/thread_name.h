// listingd/thread_name.h — names the calling thread, so that `top -H`, perf and gdb say
// which of listingd's threads is busy (the writer, the checkpointer, an HTTP worker, ...).
#pragma once

#include <pthread.h>

namespace listingd {

// Linux keeps the first 15 characters.
inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace listingd
