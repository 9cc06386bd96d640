# bin2c.cmake - turn one assembled guest (flat binary + nm listing) into a C file for the tests.
file(READ ${BIN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(STRINGS ${SYMS} lines)
set(syms "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([0-9a-f]+) [tT] (x_[A-Za-z0-9_]+)$")
    string(APPEND syms "\t{ \"${CMAKE_MATCH_2}\", 0x${CMAKE_MATCH_1} },\n")
  endif()
endforeach()
file(WRITE ${OUT} "/* Generated from ${NAME}.S by bin2c.cmake: do not edit. */\n#include \"vt_guests.h\"\n\n"
  "static const unsigned char bytes[] = { ${bytes} };\n"
  "static const struct vt_guest_symbol symbols[] = {\n${syms}\t{ 0, 0 }\n};\n"
  "const struct vt_guest vt_guest_${NAME} = { \"${NAME}\", bytes, sizeof bytes, symbols };\n")
