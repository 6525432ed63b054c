# cmake --install: the AttnMLIR CMake package (docs/Embedding.md).
#
# Two export sets, so that a host that only launches kernels needs no LLVM:
#   AttnMLIRRuntimeTargets  AttnMLIR::Runtime (C++ kernel runtime), ::RuntimeC
#                           (its C ABI, shared), ::KVCache, ::KVCacheDevice
#   AttnMLIRTargets         one target per compiler library (AttnDialect ->
#                           AttnMLIR::Dialect, ...), AttnMLIR::CAPI and the
#                           shared AttnMLIR::MLIRCAPI, the umbrella
#                           AttnMLIR::AttnMLIR, and the tools.
# Every add_mlir_library outside test/ is a compiler library: a new library
# is packaged without touching this file; test-only ones never are.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ATTN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/AttnMLIR")
set(ATTN_INSTALL_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")

# Include directories written as source/build paths (directory-level
# include_directories, or lib/Runtime's PUBLIC source path) are kept for the
# build tree only; installed targets use <prefix>/include.
function(attn_export_target target export_name)
  get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  set(kept)
  if(dirs)
    foreach(dir IN LISTS dirs)
      if(dir MATCHES "^\\$<")
        list(APPEND kept "${dir}")
      else()
        list(APPEND kept "$<BUILD_INTERFACE:${dir}>")
      endif()
    endforeach()
  endif()
  list(APPEND kept "$<INSTALL_INTERFACE:${ATTN_INSTALL_INCLUDEDIR}>")
  set_target_properties(${target} PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${kept}"
    EXPORT_NAME ${export_name})
endfunction()

# --- The runtime: plain C++ / C, no MLIR. -------------------------------
set(ATTN_RUNTIME_TARGETS)
foreach(lib AttnManifest AttnKVCache AttnRuntime AttnKVCacheDevice AttnRuntimeC)
  if(TARGET ${lib})
    string(REGEX REPLACE "^Attn" "" name ${lib})
    attn_export_target(${lib} ${name})
    list(APPEND ATTN_RUNTIME_TARGETS ${lib})
  endif()
endforeach()
install(TARGETS ${ATTN_RUNTIME_TARGETS} EXPORT AttnMLIRRuntimeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT AttnMLIRRuntimeTargets NAMESPACE AttnMLIR::
  DESTINATION ${ATTN_INSTALL_CMAKEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/attn-c/Runtime.h
  DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/attn-c)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/attn/Runtime
  DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/attn FILES_MATCHING PATTERN "*.h")

set(ATTN_PACKAGE_HAS_COMPILER OFF)
if(NOT ATTN_RUNTIME_ONLY)
  set(ATTN_PACKAGE_HAS_COMPILER ON)
  # --- The compiler libraries. -------------------------------------------
  get_property(mlir_libs GLOBAL PROPERTY MLIR_EXPORTS)
  set(ATTN_COMPILER_TARGETS)
  foreach(lib IN LISTS mlir_libs)
    if(NOT lib MATCHES "^Attn" OR NOT TARGET ${lib})
      continue()
    endif()
    get_target_property(dir ${lib} SOURCE_DIR)
    if(dir MATCHES "^${PROJECT_SOURCE_DIR}/test(/|$)")
      continue()
    endif()
    string(REGEX REPLACE "^Attn" "" name ${lib})
    attn_export_target(${lib} ${name})
    list(APPEND ATTN_COMPILER_TARGETS ${lib})
  endforeach()
  attn_export_target(AttnMLIRCAPI MLIRCAPI)
  list(APPEND ATTN_COMPILER_TARGETS AttnMLIRCAPI)
  set(ATTN_COMPILER_EXPORT_NAMES)
  foreach(lib IN LISTS ATTN_COMPILER_TARGETS)
    get_target_property(name ${lib} EXPORT_NAME)
    list(APPEND ATTN_COMPILER_EXPORT_NAMES ${name})
  endforeach()
  string(REPLACE ";" " " ATTN_COMPILER_EXPORT_NAMES "${ATTN_COMPILER_EXPORT_NAMES}")

  # AttnMLIR::AttnMLIR: every compiler library, and MLIR/LLVM's headers
  # (MLIR's exported targets carry none; the config file adds the installed
  # MLIR's paths, so the package follows the MLIR it is found with).
  add_library(AttnMLIR INTERFACE)
  foreach(lib IN LISTS ATTN_COMPILER_TARGETS)
    if(NOT lib STREQUAL "AttnMLIRCAPI")
      target_link_libraries(AttnMLIR INTERFACE ${lib})
    endif()
  endforeach()
  set_target_properties(AttnMLIR PROPERTIES EXPORT_NAME AttnMLIR)

  install(TARGETS ${ATTN_COMPILER_TARGETS} AttnMLIR attn-opt attn-compile attn-translate
    EXPORT AttnMLIRTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT AttnMLIRTargets NAMESPACE AttnMLIR::
    DESTINATION ${ATTN_INSTALL_CMAKEDIR})

  # --- Headers: sources, generated .h.inc, ODS. --------------------------
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/attn
                    ${PROJECT_SOURCE_DIR}/include/attn-c
    DESTINATION ${ATTN_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
  install(DIRECTORY ${PROJECT_BINARY_DIR}/include/attn
    DESTINATION ${ATTN_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h.inc" PATTERN "CMakeFiles" EXCLUDE)
  # The dialect ODS include each other as "Attn/<file>.td": keep that
  # relative path under include/attn/ods (ATTN_MLIR_TABLEGEN_INCLUDE_DIRS).
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/dialects/Attn
    DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/attn/ods
    FILES_MATCHING PATTERN "*.td")
  # The Python package (python/attn_mlir), beside the libraries it loads.
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/attn_mlir
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/python
    PATTERN "__pycache__" EXCLUDE)
endif()

# --- The config and version files. -----------------------------------------
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/AttnMLIRConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/AttnMLIRConfig.cmake
  INSTALL_DESTINATION ${ATTN_INSTALL_CMAKEDIR}
  PATH_VARS ATTN_INSTALL_INCLUDEDIR)
# Before 1.0 a minor release may change the API: only the same minor
# version is compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/AttnMLIRConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/AttnMLIRConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/AttnMLIRConfigVersion.cmake
  DESTINATION ${ATTN_INSTALL_CMAKEDIR})
