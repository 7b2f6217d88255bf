// MakePdf: a minimal PDF with one page per entry, each page showing its text
// in Helvetica (what pdftotext reads back) and a correct xref table, for
// the ingest and upload tests.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace chunkserve::rag::testing {

inline std::string MakePdf(const std::vector<std::string>& pages) {
  const size_t n = pages.size();
  std::vector<std::string> objs = {"<< /Type /Catalog /Pages 2 0 R >>", "",
                                   "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
  std::string kids;
  for (size_t i = 0; i < n; ++i) {
    const size_t page_obj = objs.size() + 1;
    kids += std::to_string(page_obj) + " 0 R ";
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " + std::to_string(page_obj + 1) +
                   " 0 R /Resources << /Font << /F1 3 0 R >> >> >>");
    const std::string stream = "BT /F1 12 Tf 72 720 Td (" + pages[i] + ") Tj ET";
    objs.push_back("<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "\nendstream");
  }
  objs[1] = "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n) + " >>";
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%010zu 00000 n \n", off);
    pdf += buf;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

inline std::string MakePdf(const std::string& text) { return MakePdf(std::vector<std::string>{text}); }

}  // namespace chunkserve::rag::testing
