//! Metering one core module: a new mutable `i64` global holds the fuel left, each function body
//! charges its own instructions on entry and each loop its body's at the top of every pass, an
//! instruction whose work grows with an operand (`memory.fill`, `table.grow`, …) charges that
//! operand as well, and a charge that leaves the counter below zero executes `unreachable`.

use std::borrow::Cow;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, Function, GlobalSection, GlobalType, Instruction, SectionId, ValType,
};
use wasmparser::{FunctionBody, Operator, Parser, Payload};

use crate::{MARK, MeterError};

/// Bulk work charged per unit of fuel: one unit per 64 bytes filled or copied, or per 64 table
/// elements (a shift of the length operand).
const BULK_SHIFT: i64 = 6;

/// Writes `data` (a core module read by `parser`, valid) into `module`, metered to `budget`;
/// `mark` is what its `levee-meter` section says.
pub fn meter(
    module: &mut wasm_encoder::Module,
    parser: Parser,
    data: &[u8],
    budget: i64,
    mark: &str,
) -> Result<(), MeterError> {
    let mut meter = ModuleMeter::survey(parser.clone(), data, budget)?;
    utils::parse_core_module(&mut meter, module, parser, data)?;
    module.section(&wasm_encoder::CustomSection { name: Cow::Borrowed(MARK), data: Cow::Borrowed(mark.as_bytes()) });
    Ok(())
}

struct ModuleMeter {
    budget: i64,
    /// The counter's index: after every global the module imports or defines.
    counter: u32,
    /// Whether the module has a global section, which the counter joins; if not, the counter
    /// gets one of its own.
    has_globals: bool,
    counter_written: bool,
    /// Each type's parameter count, by type index.
    type_params: Vec<u32>,
    /// Each defined function's type index, in the order of their bodies.
    function_types: Vec<u32>,
    /// The body `parse_function_body` meters next.
    next_body: usize,
}

impl ModuleMeter {
    /// Counts the module's globals (the counter comes after them) and notes its functions'
    /// parameters (a bulk instruction's length goes in a local after them); refuses a metered
    /// module.
    fn survey(parser: Parser, data: &[u8], budget: i64) -> Result<Self, MeterError> {
        let invalid = |error: wasmparser::BinaryReaderError| MeterError::Invalid(error.to_string());
        let mut meter = ModuleMeter {
            budget,
            counter: 0,
            has_globals: false,
            counter_written: false,
            type_params: Vec::new(),
            function_types: Vec::new(),
            next_body: 0,
        };
        for payload in parser.parse_all(data) {
            match payload.map_err(invalid)? {
                Payload::TypeSection(types) => {
                    for func_type in types.into_iter_err_on_gc_types() {
                        let params = func_type.map_err(invalid)?.params().len();
                        meter.type_params.push(u32::try_from(params).unwrap_or(u32::MAX));
                    }
                }
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        if matches!(import.map_err(invalid)?.ty, wasmparser::TypeRef::Global(_)) {
                            meter.counter += 1;
                        }
                    }
                }
                Payload::FunctionSection(functions) => {
                    for function in functions {
                        meter.function_types.push(function.map_err(invalid)?);
                    }
                }
                Payload::GlobalSection(globals) => {
                    meter.has_globals = true;
                    meter.counter += globals.count();
                }
                Payload::CustomSection(section) if section.name() == MARK => {
                    return Err(MeterError::AlreadyMetered(String::from_utf8_lossy(section.data()).into_owned()));
                }
                _ => {}
            }
        }
        Ok(meter)
    }

    /// How many parameters the function whose body is metered next takes.
    fn params_of_next_body(&self) -> Result<u32, MeterError> {
        let type_index = self.function_types.get(self.next_body).copied();
        let params = type_index.and_then(|index| self.type_params.get(index as usize)).copied();
        params.ok_or_else(|| MeterError::Invalid("a function body without a function type".into()))
    }

    fn write_counter(&mut self, globals: &mut GlobalSection) {
        let ty = GlobalType { val_type: ValType::I64, mutable: true, shared: false };
        globals.global(ty, &ConstExpr::i64_const(self.budget));
        self.counter_written = true;
    }

    /// Takes `cost` from the counter; traps if that leaves it below zero.
    fn charge(&self, function: &mut Function, cost: u64) {
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        function
            .instruction(&Instruction::GlobalGet(self.counter))
            .instruction(&Instruction::I64Const(cost))
            .instruction(&Instruction::I64Sub);
        self.set_and_check(function);
    }

    /// Before a bulk instruction, whose length (an `i32`: 64-bit memories and tables are
    /// refused) is on top of the stack: keeps a copy in `local` and takes its share of the
    /// counter; the stack is as it was.
    fn charge_length(&self, function: &mut Function, local: u32) {
        function
            .instruction(&Instruction::LocalTee(local))
            .instruction(&Instruction::GlobalGet(self.counter))
            .instruction(&Instruction::LocalGet(local))
            .instruction(&Instruction::I64ExtendI32U)
            .instruction(&Instruction::I64Const(BULK_SHIFT))
            .instruction(&Instruction::I64ShrU)
            .instruction(&Instruction::I64Sub);
        self.set_and_check(function);
    }

    /// Stores the counter's new value (on the stack) and traps if it is below zero.
    fn set_and_check(&self, function: &mut Function) {
        function
            .instruction(&Instruction::GlobalSet(self.counter))
            .instruction(&Instruction::GlobalGet(self.counter))
            .instruction(&Instruction::I64Const(0))
            .instruction(&Instruction::I64LtS)
            .instruction(&Instruction::If(BlockType::Empty))
            .instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
    }
}

/// Instructions whose work grows with their last operand, a length or count: bytes filled,
/// copied or initialized, table elements filled, copied, initialized or added.
fn is_bulk(operator: &Operator<'_>) -> bool {
    matches!(
        operator,
        Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::TableGrow { .. }
    )
}

impl Reencode for ModuleMeter {
    type Error = MeterError;

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<MeterError>> {
        utils::parse_global_section(self, globals, section)?;
        self.write_counter(globals);
        Ok(())
    }

    /// A module without globals gets a global section, holding only the counter, where one
    /// belongs: before the first section that comes after globals.
    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<MeterError>> {
        let globals_belong_here = before.is_none_or(|next| order(next) > order(SectionId::Global));
        if !self.has_globals && !self.counter_written && globals_belong_here {
            let mut globals = GlobalSection::new();
            self.write_counter(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        body: FunctionBody<'_>,
    ) -> Result<(), ReencodeError<MeterError>> {
        let mut reader = body.get_operators_reader()?;
        let mut operators = Vec::new();
        while !reader.eof() {
            operators.push(reader.read()?);
        }
        let mut locals: Vec<(u32, ValType)> = Vec::new();
        // A bulk instruction's length goes in a new local, after the parameters and locals.
        let mut length_local = self.params_of_next_body().map_err(ReencodeError::UserError)?;
        for declared in body.get_locals_reader()? {
            let (count, ty) = declared?;
            length_local = length_local.saturating_add(count);
            locals.push((count, self.val_type(ty)?));
        }
        if operators.iter().any(is_bulk) {
            locals.push((1, ValType::I32));
        }
        let mut function = Function::new(locals);
        let costs = region_costs(&operators);
        let mut loop_costs = costs.iter().skip(1);
        self.charge(&mut function, costs.first().copied().unwrap_or(1));
        for operator in operators {
            let starts_loop = matches!(operator, Operator::Loop { .. });
            if is_bulk(&operator) {
                self.charge_length(&mut function, length_local);
            }
            function.instruction(&self.instruction(operator)?);
            if starts_loop {
                self.charge(&mut function, loop_costs.next().copied().unwrap_or(1));
            }
        }
        code.function(&function);
        self.next_body += 1;
        Ok(())
    }

    /// Custom sections go through as they are.
    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), ReencodeError<MeterError>> {
        module.section(&crate::as_it_is(&section));
        Ok(())
    }
}

/// The instructions of the function body (first) and of each loop body in the order the loops
/// start, each not counting the loops nested in it.
fn region_costs(operators: &[Operator<'_>]) -> Vec<u64> {
    let mut costs = vec![0u64];
    // One entry per open block: the region (function or loop) its instructions count towards.
    let mut open: Vec<usize> = vec![0];
    for operator in operators {
        let region = open.last().copied().unwrap_or(0);
        if let Some(cost) = costs.get_mut(region) {
            *cost += 1;
        }
        match operator {
            Operator::Loop { .. } => {
                costs.push(0);
                open.push(costs.len() - 1);
            }
            Operator::Block { .. } | Operator::If { .. } | Operator::Try { .. } | Operator::TryTable { .. } => {
                open.push(region);
            }
            Operator::End | Operator::Delegate { .. } => {
                open.pop();
            }
            _ => {}
        }
    }
    costs
}

/// A section's place in a module's order (the binary format's, not its ids').
fn order(section: SectionId) -> u8 {
    match section {
        SectionId::Custom => 0,
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operators(wat_body: &[Operator<'static>]) -> Vec<Operator<'static>> {
        wat_body.to_vec()
    }

    #[test]
    fn each_loop_counts_its_own_body_and_not_the_loops_inside_it() {
        let blocktype = wasmparser::BlockType::Empty;
        let body = operators(&[
            Operator::Nop,
            Operator::Loop { blockty: blocktype },
            Operator::Nop,
            Operator::Block { blockty: blocktype },
            Operator::Loop { blockty: blocktype },
            Operator::Br { relative_depth: 0 },
            Operator::End,
            Operator::End,
            Operator::Br { relative_depth: 0 },
            Operator::End,
            Operator::End,
        ]);
        // The function: nop, loop, its end; the outer loop: nop, block, loop, block's end, br,
        // loop's end; the inner loop: br, its end.
        assert_eq!(region_costs(&body), vec![3, 6, 2]);
    }
}
