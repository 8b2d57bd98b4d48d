// Reading and writing .safetensors files, the format that PyTorch, JAX and
// numpy users open with the `safetensors` package:
//
//   bytes [0, 8)        N, the header length: unsigned 64-bit little-endian
//   bytes [8, 8+N)      header: a UTF-8 JSON object, padded with spaces so
//                       that N is a multiple of 8 (the data starts 8-aligned)
//   bytes [8+N, end)    data section: every tensor's bytes, back to back
//
// The header maps each tensor name to
//   {"dtype":"F32","shape":[768,3072],"data_offsets":[begin,end]}
// with offsets relative to the data section; tensors are row-major (C order)
// and little-endian, and together cover the data section exactly. An optional
// "__metadata__" entry holds string -> string pairs (we keep the model config
// and training state there).
//
// Python check of a file we wrote:
//   from safetensors.numpy import load_file; load_file("model.safetensors")
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// Tensor bytes are copied between memory and file with memcpy, which is only
// right if this machine stores numbers little-endian (as x86 and ARM Linux
// do). A big-endian port would have to byte-swap in read_into and add_raw.
// GCC and Clang tell us at compile time; safetensors.cpp also checks at run
// time for compilers that don't.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");
#endif
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4, "F32 must be IEEE binary32");
static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8, "F64 must be IEEE binary64");

// The element types we read (the format has more: I8, I16, U32, BOOL, F8_*;
// a file with those is rejected with a message naming the dtype). F16 and
// BF16 are read so that `lrt compare` takes what PyTorch users save. No C++
// type maps to them (dtype_of), so read_into and read_vector never hand out
// their raw bits as numbers; io/dtype_convert.h converts them (and add_raw
// writes them, bits given).
enum class Dtype { F32, F64, I32, I64, U16, U8, U64, F16, BF16 };

size_t dtype_size(Dtype dtype);        // bytes per element
const char* dtype_name(Dtype dtype);   // "F32", as in the header
Dtype parse_dtype(const std::string& name);  // fails on names we don't read

template <typename T> struct st_unsupported_type : std::false_type {};

// The Dtype that stores a C++ type: float->F32, double->F64, int32_t->I32,
// int64_t->I64, uint16_t->U16, uint8_t->U8, uint64_t->U64.
template <typename T>
constexpr Dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>) return Dtype::F32;
    else if constexpr (std::is_same_v<T, double>) return Dtype::F64;
    else if constexpr (std::is_same_v<T, int32_t>) return Dtype::I32;
    else if constexpr (std::is_same_v<T, int64_t>) return Dtype::I64;
    else if constexpr (std::is_same_v<T, uint16_t>) return Dtype::U16;
    else if constexpr (std::is_same_v<T, uint8_t>) return Dtype::U8;
    else if constexpr (std::is_same_v<T, uint64_t>) return Dtype::U64;
    else static_assert(st_unsupported_type<T>::value, "no safetensors dtype for this C++ type");
}

// "[2, 3]", for messages.
std::string format_shape(const std::vector<int64_t>& shape);

struct StTensor {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<int64_t> shape;   // [] is a scalar (1 element)
    std::vector<uint8_t> bytes;   // numel() * dtype_size(dtype) bytes, little-endian, row-major
    size_t numel() const;         // product of shape
};

struct SafeTensors {
    std::vector<std::pair<std::string, std::string>> metadata;  // written in this order
    std::vector<StTensor> tensors;  // written in this order; loaded in data-offset order
    // Where these came from ("" if built in memory); prefixes error messages.
    std::string source;

    // Copies a tensor in. `data` holds the product of `shape` elements (it
    // may be null when that is 0). Fails on a duplicate or reserved name or a
    // negative dimension.
    template <typename T>
    void add(const std::string& name, std::vector<int64_t> shape, const T* data) {
        add_raw(name, dtype_of<T>(), std::move(shape), data);
    }
    // The same with the dtype given at run time; `data` is raw bytes.
    void add_raw(const std::string& name, Dtype dtype, std::vector<int64_t> shape, const void* data);

    // Sets a metadata entry, replacing an existing key in place.
    void set_meta(const std::string& key, const std::string& value);
    const std::string* find_meta(const std::string& key) const;  // nullptr if absent
    std::string meta(const std::string& key) const;               // fails if absent

    const StTensor* find(const std::string& name) const;  // nullptr if absent
    const StTensor& get(const std::string& name) const;   // fails: "<file>: no tensor named "X""
    // get() plus a dtype check: fails "<file>: tensor "X" has dtype F64, expected F32".
    const StTensor& get_typed(const std::string& name, Dtype dtype) const;

    // Copies a tensor out after checking its dtype and element count, so a
    // checkpoint from a different model size fails loudly instead of being
    // read into the wrong buffer: "tensor "X": shape [2, 3] has 6 elements,
    // expected 5".
    template <typename T>
    void read_into(const std::string& name, T* dst, size_t expected_numel) const {
        const StTensor& t = get_checked(name, dtype_of<T>(), expected_numel);
        if (!t.bytes.empty()) std::memcpy(dst, t.bytes.data(), t.bytes.size());
    }
    // The same with the exact shape checked, not just the element count: a
    // [6, 4] tensor has the 24 elements of a [4, 6] parameter but in another
    // layout, so reading it would silently transpose garbage in. Fails
    // "<file>: tensor "X" has shape [6, 4], expected [4, 6]". (Pass a
    // std::vector: a braced {6} would pick the element-count overload.)
    template <typename T>
    void read_into(const std::string& name, T* dst, const std::vector<int64_t>& expected_shape) const {
        const StTensor& t = get_checked(name, dtype_of<T>(), expected_shape);
        if (!t.bytes.empty()) std::memcpy(dst, t.bytes.data(), t.bytes.size());
    }
    template <typename T>
    std::vector<T> read_vector(const std::string& name) const {
        const StTensor& t = get_typed(name, dtype_of<T>());
        std::vector<T> out(t.numel());
        if (!t.bytes.empty()) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
        return out;
    }
    // get_typed() plus the element-count check that read_into needs.
    const StTensor& get_checked(const std::string& name, Dtype dtype, size_t expected_numel) const;
    // get_typed() plus the exact-shape check of the read_into above.
    const StTensor& get_checked(const std::string& name, Dtype dtype, const std::vector<int64_t>& expected_shape) const;
};

// Writes atomically (a crash leaves the old file or the new one, never half of
// one). Tensors go into the data section in the order of st.tensors, so the
// layout is predictable; put wide dtypes first if readers that memory-map the
// file need every tensor aligned to its element size.
void save_safetensors(const std::string& path, const SafeTensors& st);

// The bytes of a safetensors file (what save_safetensors writes).
std::vector<uint8_t> serialize_safetensors(const SafeTensors& st);

// Reads and validates a file: every malformed header, inconsistent shape or
// offset, gap, overlap or trailing byte fails with a message naming the file
// and the problem. Reads only as much as the header declares (plus one byte),
// so a huge wrong file or /dev/zero fails promptly.
SafeTensors load_safetensors(const std::string& path);

// The same on bytes already in memory; `source` names them in messages.
SafeTensors parse_safetensors(const std::vector<uint8_t>& file, const std::string& source);
