import Foundation
import Testing
@testable import AutoShrinkFormats
