#include "io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include <sys/stat.h>

#include "io/json.h"
#include "util/util.h"

// The reference implementation (huggingface/safetensors) refuses headers over
// 100 MB; a larger length field means a corrupt file or not a safetensors
// file at all, and we should not try to allocate it.
static const uint64_t MAX_HEADER_BYTES = 100000000;

// Offsets are JSON numbers, i.e. doubles: exact only below 2^53 (8 PiB).
static const uint64_t MAX_EXACT_OFFSET = uint64_t(1) << 53;

// Run-time twin of the static_assert in safetensors.h, for compilers that
// don't define __BYTE_ORDER__.
static void check_little_endian_host() {
    const uint16_t one = 1;
    uint8_t first_byte;
    std::memcpy(&first_byte, &one, 1);
    if (first_byte != 1) fail("safetensors I/O assumes a little-endian host; this one is big-endian");
}

// ---------------------------------------------------------------------------
// dtypes
// ---------------------------------------------------------------------------

static const Dtype ALL_DTYPES[] = {Dtype::F32, Dtype::F64, Dtype::I32, Dtype::I64, Dtype::U16,
                                   Dtype::U8,  Dtype::U64, Dtype::F16, Dtype::BF16};
static const char* READABLE_DTYPES = "F32, F64, F16, BF16, I32, I64, U16, U8, U64";

size_t dtype_size(Dtype dtype) {
    switch (dtype) {
        case Dtype::F32: return 4;
        case Dtype::F64: return 8;
        case Dtype::I32: return 4;
        case Dtype::I64: return 8;
        case Dtype::U16: return 2;
        case Dtype::U8: return 1;
        case Dtype::U64: return 8;
        case Dtype::F16: return 2;
        case Dtype::BF16: return 2;
    }
    fail("invalid Dtype value " + std::to_string((int)dtype));
}

const char* dtype_name(Dtype dtype) {
    switch (dtype) {
        case Dtype::F32: return "F32";
        case Dtype::F64: return "F64";
        case Dtype::I32: return "I32";
        case Dtype::I64: return "I64";
        case Dtype::U16: return "U16";
        case Dtype::U8: return "U8";
        case Dtype::U64: return "U64";
        case Dtype::F16: return "F16";
        case Dtype::BF16: return "BF16";
    }
    return "?";
}

Dtype parse_dtype(const std::string& name) {
    for (Dtype d : ALL_DTYPES)
        if (name == dtype_name(d)) return d;
    fail("unknown dtype \"" + name + "\" (this program reads " + READABLE_DTYPES + ")");
}

std::string format_shape(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

// Product of the dimensions, failing on negative ones or on overflow (a
// corrupt header can claim [2^40, 2^40]). Any zero dimension makes it 0,
// whatever the others are.
static uint64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what) {
    for (int64_t d : shape)
        if (d < 0) fail(what + ": negative dimension in shape " + format_shape(shape));
    for (int64_t d : shape)
        if (d == 0) return 0;
    uint64_t n = 1;
    for (int64_t d : shape) {
        if (n > UINT64_MAX / (uint64_t)d) fail(what + ": shape " + format_shape(shape) + " is too large");
        n *= (uint64_t)d;
    }
    return n;
}

static uint64_t checked_byte_count(uint64_t numel, Dtype dtype, const std::vector<int64_t>& shape,
                                   const std::string& what) {
    if (numel > UINT64_MAX / dtype_size(dtype))
        fail(what + ": shape " + format_shape(shape) + " is too large");
    return numel * dtype_size(dtype);
}

size_t StTensor::numel() const {
    size_t n = 1;
    for (int64_t d : shape) n *= (size_t)d;
    return n;
}

// ---------------------------------------------------------------------------
// SafeTensors: building and looking up
// ---------------------------------------------------------------------------

static std::string quoted(const std::string& name) { return "\"" + name + "\""; }

// "model.safetensors: " for loaded files, "" for ones built in memory.
static std::string prefix(const std::string& source) { return source.empty() ? "" : source + ": "; }

void SafeTensors::add_raw(const std::string& name, Dtype dtype, std::vector<int64_t> shape, const void* data) {
    check_little_endian_host();
    std::string what = "tensor " + quoted(name);
    if (name == "__metadata__") fail(what + ": the name is reserved for the metadata block");
    if (find(name)) fail(what + " added twice");
    uint64_t bytes = checked_byte_count(checked_numel(shape, what), dtype, shape, what);
    if (bytes > 0 && !data) fail(what + ": null data for shape " + format_shape(shape));
    StTensor t;
    t.name = name;
    t.dtype = dtype;
    t.shape = std::move(shape);
    const uint8_t* p = static_cast<const uint8_t*>(data);
    if (bytes > 0) t.bytes.assign(p, p + bytes);
    tensors.push_back(std::move(t));
}

void SafeTensors::set_meta(const std::string& key, const std::string& value) {
    for (auto& kv : metadata) {
        if (kv.first == key) {
            kv.second = value;
            return;
        }
    }
    metadata.emplace_back(key, value);
}

const std::string* SafeTensors::find_meta(const std::string& key) const {
    for (const auto& kv : metadata)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

std::string SafeTensors::meta(const std::string& key) const {
    const std::string* v = find_meta(key);
    if (!v) fail(prefix(source) + "no metadata entry " + quoted(key));
    return *v;
}

const StTensor* SafeTensors::find(const std::string& name) const {
    for (const StTensor& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

const StTensor& SafeTensors::get(const std::string& name) const {
    const StTensor* t = find(name);
    if (!t) fail(prefix(source) + "no tensor named " + quoted(name));
    return *t;
}

const StTensor& SafeTensors::get_typed(const std::string& name, Dtype dtype) const {
    const StTensor& t = get(name);
    if (t.dtype != dtype)
        fail(prefix(source) + "tensor " + quoted(name) + " has dtype " + dtype_name(t.dtype) + ", expected " +
             dtype_name(dtype));
    return t;
}

const StTensor& SafeTensors::get_checked(const std::string& name, Dtype dtype, size_t expected_numel) const {
    const StTensor& t = get_typed(name, dtype);
    if (t.numel() != expected_numel)
        fail(prefix(source) + "tensor " + quoted(name) + ": shape " + format_shape(t.shape) + " has " +
             std::to_string(t.numel()) + " elements, expected " + std::to_string(expected_numel));
    return t;
}

const StTensor& SafeTensors::get_checked(const std::string& name, Dtype dtype,
                                         const std::vector<int64_t>& expected_shape) const {
    const StTensor& t = get_typed(name, dtype);
    if (t.shape != expected_shape)
        fail(prefix(source) + "tensor " + quoted(name) + " has shape " + format_shape(t.shape) + ", expected " +
             format_shape(expected_shape));
    return t;
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

static JsonValue json_uint_pair(uint64_t a, uint64_t b) {
    JsonValue v = JsonValue::make_array();
    v.push(JsonValue::make_number((double)a));
    v.push(JsonValue::make_number((double)b));
    return v;
}

std::vector<uint8_t> serialize_safetensors(const SafeTensors& st) {
    check_little_endian_host();

    // Header: "__metadata__" first (as the Python writer does), then one
    // entry per tensor in the order given, each placed right after the last.
    JsonValue header = JsonValue::make_object();
    if (!st.metadata.empty()) {
        JsonValue meta = JsonValue::make_object();
        for (const auto& kv : st.metadata) {
            if (meta.find(kv.first)) fail("metadata key " + quoted(kv.first) + " appears twice");
            meta.obj.emplace_back(kv.first, JsonValue::make_string(kv.second));
        }
        header.obj.emplace_back("__metadata__", std::move(meta));
    }
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const StTensor& t : st.tensors) {
        std::string what = "tensor " + quoted(t.name);
        if (t.name == "__metadata__") fail(what + ": the name is reserved for the metadata block");
        if (!names.insert(t.name).second) fail(what + " appears twice");
        uint64_t bytes = checked_byte_count(checked_numel(t.shape, what), t.dtype, t.shape, what);
        if (t.bytes.size() != bytes)
            fail(what + " holds " + std::to_string(t.bytes.size()) + " bytes but dtype " + dtype_name(t.dtype) +
                 " with shape " + format_shape(t.shape) + " needs " + std::to_string(bytes));
        if (offset + bytes >= MAX_EXACT_OFFSET) fail("tensors too large for a safetensors file (2^53 bytes)");

        JsonValue entry = JsonValue::make_object();
        entry.set("dtype", JsonValue::make_string(dtype_name(t.dtype)));
        JsonValue shape = JsonValue::make_array();
        for (int64_t d : t.shape) shape.push(JsonValue::make_number((double)d));
        entry.set("shape", std::move(shape));
        entry.set("data_offsets", json_uint_pair(offset, offset + bytes));
        header.obj.emplace_back(t.name, std::move(entry));
        offset += bytes;
    }

    // Pad with spaces (JSON whitespace) so the data section starts at a
    // multiple of 8 bytes: 8 + N is then 8-aligned.
    std::string text = to_json(header);
    text.append((8 - text.size() % 8) % 8, ' ');

    std::vector<uint8_t> out;
    out.reserve(8 + text.size() + offset);
    // N as little-endian u64, byte by byte so it is right on any host.
    uint64_t n = text.size();
    for (int i = 0; i < 8; i++) out.push_back((uint8_t)(n >> (8 * i)));
    out.insert(out.end(), text.begin(), text.end());
    for (const StTensor& t : st.tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    return out;
}

void save_safetensors(const std::string& path, const SafeTensors& st) {
    std::vector<uint8_t> bytes;
    try {
        bytes = serialize_safetensors(st);
    } catch (const std::runtime_error& e) {
        fail("cannot save " + path + ": " + e.what());
    }
    write_file_atomic(path, bytes.data(), bytes.size());
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

// A JSON number that is a non-negative integer a double holds exactly.
static bool json_count(const JsonValue& v, uint64_t* out) {
    // Range first: converting a double beyond 2^64 to an integer is undefined.
    if (v.type != JsonValue::Number || !(v.num >= 0) || v.num >= (double)MAX_EXACT_OFFSET ||
        v.num != (double)(uint64_t)v.num)
        return false;
    *out = (uint64_t)v.num;
    return true;
}

namespace {
struct HeaderEntry {
    StTensor tensor;
    uint64_t begin = 0, end = 0;  // data_offsets, relative to the data section
};
}  // namespace

// Checks one tensor entry of the header against the format: exactly the
// keys dtype/shape/data_offsets, a dtype we read, a shape of non-negative
// integers, and offsets that span exactly numel * dtype_size bytes inside the
// data section.
static HeaderEntry parse_tensor_entry(const std::string& name, const JsonValue& e, uint64_t data_size,
                                      const std::string& where) {
    std::string what = where + ": tensor " + quoted(name);
    if (e.type != JsonValue::Object)
        fail(what + ": header entry must be an object, got " + json_type_name(e.type));
    for (const auto& kv : e.obj)
        if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
            fail(what + ": unexpected key " + quoted(kv.first) + " (expected dtype, shape, data_offsets)");

    HeaderEntry h;
    h.tensor.name = name;

    const JsonValue* dtype = e.find("dtype");
    if (!dtype) fail(what + ": missing \"dtype\"");
    if (dtype->type != JsonValue::String) fail(what + ": dtype must be a string, got " + json_type_name(dtype->type));
    bool known = false;
    for (Dtype d : ALL_DTYPES) {
        if (dtype->str == dtype_name(d)) {
            h.tensor.dtype = d;
            known = true;
        }
    }
    if (!known)
        fail(what + ": unknown dtype " + quoted(dtype->str) + " (this program reads " + READABLE_DTYPES + ")");

    const JsonValue* shape = e.find("shape");
    if (!shape) fail(what + ": missing \"shape\"");
    if (shape->type != JsonValue::Array) fail(what + ": shape must be an array, got " + json_type_name(shape->type));
    for (const JsonValue& d : shape->arr) {
        uint64_t dim;
        if (!json_count(d, &dim)) fail(what + ": shape must hold non-negative integers, found " + to_json(d));
        h.tensor.shape.push_back((int64_t)dim);
    }

    const JsonValue* offsets = e.find("data_offsets");
    if (!offsets) fail(what + ": missing \"data_offsets\"");
    if (offsets->type != JsonValue::Array || offsets->arr.size() != 2 || !json_count(offsets->arr[0], &h.begin) ||
        !json_count(offsets->arr[1], &h.end))
        fail(what + ": data_offsets must be [begin, end] with non-negative integers, found " + to_json(*offsets));
    std::string span = "[" + std::to_string(h.begin) + ", " + std::to_string(h.end) + "]";
    if (h.end < h.begin) fail(what + ": data_offsets " + span + " end before they begin");

    uint64_t bytes = checked_byte_count(checked_numel(h.tensor.shape, what), h.tensor.dtype, h.tensor.shape, what);
    if (h.end - h.begin != bytes)
        fail(what + ": data_offsets " + span + " span " + std::to_string(h.end - h.begin) + " bytes but dtype " +
             dtype_name(h.tensor.dtype) + " with shape " + format_shape(h.tensor.shape) + " needs " +
             std::to_string(bytes) + " bytes");
    if (h.end > data_size)
        fail(what + ": data_offsets " + span + " go past the end of the data section (" + std::to_string(data_size) +
             " bytes)");
    return h;
}

SafeTensors parse_safetensors(const std::vector<uint8_t>& file, const std::string& source) {
    check_little_endian_host();
    const std::string where = source.empty() ? std::string("safetensors data") : source;

    if (file.size() < 8)
        fail(where + ": file is " + std::to_string(file.size()) +
             " bytes, too short for a safetensors file (it starts with an 8-byte header length)");
    uint64_t n = 0;  // little-endian u64, assembled byte by byte
    for (int i = 0; i < 8; i++) n |= (uint64_t)file[i] << (8 * i);
    if (n > MAX_HEADER_BYTES)
        fail(where + ": header length field says " + std::to_string(n) + " bytes, over the " +
             std::to_string(MAX_HEADER_BYTES) + "-byte limit; this is not a safetensors file or it is corrupt");
    if (n > file.size() - 8)
        fail(where + ": header length field says " + std::to_string(n) + " bytes but only " +
             std::to_string(file.size() - 8) + " follow it; the file is truncated or not a safetensors file");
    const uint64_t data_size = file.size() - 8 - n;
    const uint8_t* data = file.data() + 8 + n;

    JsonValue header;
    try {
        header = parse_json(std::string(file.begin() + 8, file.begin() + 8 + n));
    } catch (const std::runtime_error& e) {
        fail(where + ": header is not valid JSON (positions count from the header's first byte, byte 8 of the file): " +
             e.what());
    }
    if (header.type != JsonValue::Object)
        fail(where + ": header must be a JSON object, got " + json_type_name(header.type));

    SafeTensors st;
    st.source = source;
    std::vector<HeaderEntry> entries;
    for (const auto& member : header.obj) {
        if (member.first == "__metadata__") {
            const JsonValue& m = member.second;
            if (m.type != JsonValue::Object)
                fail(where + ": __metadata__ must be an object of strings, got " + json_type_name(m.type));
            for (const auto& kv : m.obj) {
                if (kv.second.type != JsonValue::String)
                    fail(where + ": __metadata__ value for " + quoted(kv.first) + " must be a string, got " +
                         json_type_name(kv.second.type));
                st.metadata.emplace_back(kv.first, kv.second.str);
            }
        } else {
            entries.push_back(parse_tensor_entry(member.first, member.second, data_size, where));
        }
    }

    // Walk the tensors in data order: each must start where the previous one
    // ended, and the last must end at the end of the file. A stable sort
    // keeps header order for zero-size tensors sharing an offset.
    std::stable_sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t covered = 0;  // the data section's bytes [0, covered) belong to tensors seen so far
    const HeaderEntry* previous = nullptr;
    for (const HeaderEntry& h : entries) {
        std::string name = quoted(h.tensor.name);
        if (h.begin < covered)
            fail(where + ": tensors " + quoted(previous->tensor.name) + " [" + std::to_string(previous->begin) + ", " +
                 std::to_string(previous->end) + ") and " + name + " [" + std::to_string(h.begin) + ", " +
                 std::to_string(h.end) + ") overlap in the data section");
        if (h.begin > covered)
            fail(where + ": gap in the data section: bytes [" + std::to_string(covered) + ", " +
                 std::to_string(h.begin) + ") before tensor " + name + " belong to no tensor");
        covered = h.end;
        previous = &h;
    }
    if (covered != data_size)
        fail(where + ": " + std::to_string(data_size - covered) +
             " trailing bytes after the last tensor (the data section is " + std::to_string(data_size) +
             " bytes, the tensors cover " + std::to_string(covered) + ")");

    for (HeaderEntry& h : entries) {
        h.tensor.bytes.assign(data + h.begin, data + h.end);
        st.tensors.push_back(std::move(h.tensor));
    }
    return st;
}

// The data-section size a header declares: the largest end of the entries'
// data_offsets that are well formed. It only bounds the read; malformed
// entries are left for parse_safetensors to report (their messages do not
// depend on the data size, and a well-formed entry never ends past this).
static uint64_t declared_data_size(const JsonValue& header) {
    uint64_t size = 0;
    if (header.type != JsonValue::Object) return 0;
    for (const auto& member : header.obj) {
        if (member.first == "__metadata__" || member.second.type != JsonValue::Object) continue;
        const JsonValue* offsets = member.second.find("data_offsets");
        uint64_t begin, end;
        if (offsets && offsets->type == JsonValue::Array && offsets->arr.size() == 2 &&
            json_count(offsets->arr[0], &begin) && json_count(offsets->arr[1], &end))
            size = std::max(size, end);
    }
    return size;
}

// The file's size where the file system knows it (a regular file), for the
// trailing-bytes message; false for devices and pipes.
static bool regular_file_size(const std::string& path, uint64_t* size) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    *size = (uint64_t)st.st_size;
    return true;
}

// Reads no more than the file declares: the length field, then the header,
// then the data section the header describes, plus one byte to notice
// trailing data. So /dev/zero or a large unrelated file fails after a few
// bytes instead of being read until memory runs out. Every message about the
// content still comes from parse_safetensors, the one validator.
SafeTensors load_safetensors(const std::string& path) {
    std::vector<uint8_t> head = read_file_prefix(path, 8);
    if (head.size() < 8) return parse_safetensors(head, path);  // fails: too short
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)head[i] << (8 * i);
    if (n > MAX_HEADER_BYTES) return parse_safetensors(head, path);  // fails: over the header limit

    std::vector<uint8_t> bytes = read_file_prefix(path, 8 + (size_t)n);
    if (bytes.size() < 8 + n) return parse_safetensors(bytes, path);  // fails: truncated header
    uint64_t declared = 0;
    try {
        declared = declared_data_size(parse_json(std::string(bytes.begin() + 8, bytes.end())));
    } catch (const std::runtime_error&) {
        return parse_safetensors(bytes, path);  // fails: not JSON, with the validator's message
    }
    // declared < 2^53 (json_count), so the sum does not overflow
    const uint64_t expected = 8 + n + declared;
    if (expected + 1 > (uint64_t)SIZE_MAX) fail(path + ": header declares " + std::to_string(declared) +
                                                 " bytes of tensors, more than this machine can address");
    bytes = read_file_prefix(path, (size_t)expected + 1);
    if (bytes.size() <= expected) return parse_safetensors(bytes, path);

    // Longer than declared. Validate what the header describes first (a
    // gap or a bad entry is the more useful message), then report the rest.
    bytes.resize((size_t)expected);
    parse_safetensors(bytes, path);
    uint64_t file_size;
    if (regular_file_size(path, &file_size) && file_size > expected)
        fail(path + ": " + std::to_string(file_size - expected) +
             " trailing bytes after the last tensor (the data section is " + std::to_string(file_size - 8 - n) +
             " bytes, the tensors cover " + std::to_string(declared) + ")");
    fail(path + ": trailing bytes after the last tensor (the data section is longer than the " +
         std::to_string(declared) + " bytes the tensors cover)");
}
