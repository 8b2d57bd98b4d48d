// Scratch memory that belongs to the calling thread and lives as long as it.
//
// OpenMP keeps its threads between parallel regions, so a buffer kept per
// thread is allocated (and page-faulted in) once, not on every call of a
// layer in every training step. Per thread because the callers may run on
// several threads at once (gemm inside attention's per-head tasks). Each
// user takes its own slot, so two users on one thread never share memory.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

enum class ThreadBufferSlot { PackedB, AttentionForward, AttentionBackward, NormPartials };

// At least `count` elements, 64-byte aligned, grown (never shrunk) as asked;
// the contents are not kept when it grows.
template <typename T, ThreadBufferSlot Slot>
T* thread_buffer(size_t count) {
    struct Buffer {
        T* data = nullptr;
        size_t count = 0;
        ~Buffer() { std::free(data); }
    };
    thread_local Buffer buffer;
    if (buffer.count < count) {
        std::free(buffer.data);
        buffer.data = static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64));
        if (!buffer.data) throw std::bad_alloc();
        buffer.count = count;
    }
    return buffer.data;
}
